"""Scripted behaviours: reach, grasp-and-lift, pick-and-place, push.

An episode is a queue of *steps*. Each step is planned when it starts, from the current state of
the simulation (so a grasp goes to where the object is now, not where it started), and becomes a
smooth (minimum-jerk) Cartesian segment from the current commanded pose to a target pose, with a
gripper command. The controller samples the active segment at 15 Hz; the IK turns the pose into
joint targets. Every behaviour ends with the arm moving away, and the queue is refilled with more
behaviours (or idle motions) until the episode's duration is reached.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .scene import Scene

TASKS = ("reach", "grasp_lift", "pick_place", "push")
TASK_PROBS = (0.15, 0.25, 0.35, 0.25)


@dataclass
class Segment:
    start_pos: np.ndarray
    start_yaw: float
    end_pos: np.ndarray
    end_yaw: float
    grip: float  # gripper command during the segment (0 open, 1 closed)
    duration: float  # seconds of motion
    hold: float = 0.0  # seconds to stay at the end pose

    @property
    def total(self) -> float:
        return self.duration + self.hold

    def at(self, t: float) -> tuple[np.ndarray, float]:
        s = 1.0 if self.duration <= 0 else min(max(t / self.duration, 0.0), 1.0)
        s = 10 * s**3 - 15 * s**4 + 6 * s**5  # minimum jerk
        return self.start_pos + s * (self.end_pos - self.start_pos), self.start_yaw + s * (
            self.end_yaw - self.start_yaw)


@dataclass
class Target:
    pos: np.ndarray
    yaw: float
    grip: float
    hold: float = 0.0
    speed_scale: float = 1.0


Step = Callable[["Planner"], Target]


def _wrap_half_pi(angle: float) -> float:
    """Wrap to [-pi/2, pi/2): a parallel gripper is symmetric under a half turn."""
    return float((angle + np.pi / 2) % np.pi - np.pi / 2)


class Planner:
    """Turns a queue of behaviours into Cartesian targets, 15 times a second."""

    def __init__(self, scene: Scene, rng: np.random.Generator, duration: float, start_pos: np.ndarray,
                 start_yaw: float):
        self.scene = scene
        self.rng = rng
        self.duration = duration
        self.speed = float(rng.uniform(0.12, 0.22))  # m/s of a typical segment
        self.table_z = scene.params.table_top
        self.pos = np.asarray(start_pos, float).copy()
        self.yaw = float(start_yaw)
        self.grip = 0.0
        self.steps: list[Step] = []
        self.segment: Segment | None = None
        self.seg_t = 0.0
        self.phrases: list[str] = []
        self.tasks: list[dict] = []
        self.held: int | None = None
        self._plan_more(first=True)

    # -- state helpers ----------------------------------------------------------------------
    def obj_pos(self, k: int) -> np.ndarray:
        return self.scene.data.xpos[self.scene.object_bodies[k]].copy()

    def obj_yaw(self, k: int) -> float:
        xmat = self.scene.data.xmat[self.scene.object_bodies[k]].reshape(3, 3)
        return float(np.arctan2(xmat[1, 0], xmat[0, 0]))

    def on_table(self, k: int) -> bool:
        p = self.obj_pos(k)
        cx, cy = self.scene.params.table_center
        hx, hy = self.scene.params.table_half
        return (abs(p[0] - cx) < hx - 0.05 and abs(p[1] - cy) < hy - 0.05
                and 0.2 < p[0] < 0.75 and abs(p[1]) < 0.4 and p[2] < self.table_z + 0.15)

    def grasp_yaw(self, k: int) -> float:
        obj = self.scene.params.objects[k]
        if obj.shape in ("box", "cube"):
            theta = self.obj_yaw(k)
            if obj.shape == "box" and obj.size[0] > obj.size[1]:
                theta += np.pi / 2
            if obj.shape == "cube":
                theta = float((theta + np.pi / 4) % (np.pi / 2) - np.pi / 4)
            return _wrap_half_pi(theta + np.pi / 2)
        return float(self.rng.uniform(-0.6, 0.6))

    def grasp_z(self, k: int) -> float:
        obj = self.scene.params.objects[k]
        p = self.obj_pos(k)
        top = p[2] + obj.half_height
        return float(max(self.table_z + 0.012, min(p[2], top - 0.022)))

    def free_spot(self, avoid: int | None, min_dist: float = 0.12) -> np.ndarray:
        others = [self.obj_pos(j)[:2] for j in range(len(self.scene.params.objects)) if j != avoid]
        best, best_d = None, -1.0
        for _ in range(60):
            xy = np.array([self.rng.uniform(0.36, 0.66), self.rng.uniform(-0.3, 0.3)])
            d = min((np.linalg.norm(xy - o) for o in others), default=1.0)
            if avoid is not None:
                if np.linalg.norm(xy - self.obj_pos(avoid)[:2]) < min_dist:
                    continue
            if d > 0.09:
                return xy
            if d > best_d:
                best, best_d = xy, d
        return best if best is not None else np.array([0.5, 0.0])

    # -- behaviours ---------------------------------------------------------------------------
    def _pick_object(self) -> int | None:
        ok = [k for k in range(len(self.scene.params.objects)) if self.on_table(k)]
        if not ok:
            return None
        return int(self.rng.choice(ok))

    def _plan_more(self, first: bool = False) -> None:
        k = self._pick_object()
        task = str(self.rng.choice(TASKS, p=TASK_PROBS)) if k is not None else "idle"
        if first and k is not None and self.rng.random() < 0.75:
            # the first behaviour moves something most of the time (DROID is mostly manipulation)
            task = str(self.rng.choice(TASKS[1:], p=np.array(TASK_PROBS[1:]) / sum(TASK_PROBS[1:])))
        getattr(self, f"_plan_{task}")(k)
        # then move away: sometimes up and out to a side, far enough to leave an exterior view
        if self.rng.random() < 0.4:
            side = float(self.rng.choice([-1.0, 1.0]))
            pos = np.array([self.rng.uniform(0.15, 0.3), side * self.rng.uniform(0.35, 0.5),
                            self.table_z + self.rng.uniform(0.45, 0.6)])
            self.steps.append(self._goto(pos, self.rng.uniform(-0.8, 0.8), None,
                                         hold=self.rng.uniform(0.3, 1.5)))
        else:
            self.steps.append(self._goto(self._random_pose(), self.rng.uniform(-0.8, 0.8), None,
                                         hold=self.rng.uniform(0.2, 1.0)))

    def _random_pose(self) -> np.ndarray:
        return np.array([self.rng.uniform(0.3, 0.6), self.rng.uniform(-0.3, 0.3),
                         self.table_z + self.rng.uniform(0.18, 0.42)])

    def _goto(self, pos, yaw, grip, hold=0.0, speed_scale=1.0) -> Step:
        def step(p: Planner) -> Target:
            return Target(np.asarray(pos, float), float(yaw), p.grip if grip is None else grip, hold,
                          speed_scale)
        return step

    def _plan_idle(self, k) -> None:
        self.phrases.append("move the arm around")
        self.tasks.append({"task": "idle"})
        self.steps.append(self._goto(self._random_pose(), self.rng.uniform(-0.8, 0.8), None, hold=0.5))

    def _plan_reach(self, k: int) -> None:
        obj = self.scene.params.objects[k]
        self.phrases.append(f"reach towards the {obj.phrase}")
        self.tasks.append({"task": "reach", "object": k})
        hover = float(self.rng.uniform(0.04, 0.09))

        def above(p: Planner) -> Target:
            q = p.obj_pos(k)
            return Target(np.array([q[0], q[1], q[2] + obj.half_height + hover]), p.grasp_yaw(k), 0.0,
                          hold=float(p.rng.uniform(0.5, 1.5)))
        self.steps.append(above)

    def _grasp_steps(self, k: int) -> None:
        def pre(p: Planner) -> Target:
            q = p.obj_pos(k)
            return Target(np.array([q[0], q[1], p.grasp_z(k) + 0.12]), p.grasp_yaw(k), 0.0, hold=0.2)

        def down(p: Planner) -> Target:
            q = p.obj_pos(k)
            return Target(np.array([q[0], q[1], p.grasp_z(k)]), p.yaw, 0.0, hold=0.15, speed_scale=0.6)

        def close(p: Planner) -> Target:
            p.held = k
            return Target(p.pos.copy(), p.yaw, 1.0, hold=0.7)

        def lift(p: Planner) -> Target:
            z = p.table_z + p.rng.uniform(0.16, 0.28)
            return Target(np.array([p.pos[0], p.pos[1], z]), p.yaw, 1.0, hold=float(p.rng.uniform(0.2, 0.8)),
                          speed_scale=0.7)
        self.steps += [pre, down, close, lift]

    def _plan_grasp_lift(self, k: int) -> None:
        obj = self.scene.params.objects[k]
        self.phrases.append(f"pick up the {obj.phrase}")
        self.tasks.append({"task": "grasp_lift", "object": k})
        self._grasp_steps(k)

        def shake(p: Planner) -> Target:  # move it around a little, then put it back down
            d = p.rng.uniform(-0.08, 0.08, 3) * np.array([1, 1, 0.5])
            return Target(p.pos + d, p.yaw + float(p.rng.uniform(-0.4, 0.4)), 1.0, hold=0.3)

        self.steps.append(shake)
        self._place_steps(k, at_current=True)

    def _place_steps(self, k: int, at_current: bool = False, dest: np.ndarray | None = None) -> None:
        obj = self.scene.params.objects[k]

        def over(p: Planner) -> Target:
            xy = p.pos[:2].copy() if at_current else dest
            return Target(np.array([xy[0], xy[1], p.table_z + 0.2]), p.yaw, 1.0, hold=0.1)

        def lower(p: Planner) -> Target:
            # the object hangs where it was gripped: put its bottom 1 cm above the table
            q = p.obj_pos(k)
            offset = p.pos[2] - q[2]  # tcp height above the object's centre (commanded)
            z = p.table_z + obj.half_height + 0.012 + offset
            return Target(np.array([p.pos[0], p.pos[1], z]), p.yaw, 1.0, hold=0.2, speed_scale=0.6)

        def release(p: Planner) -> Target:
            p.held = None
            return Target(p.pos.copy(), p.yaw, 0.0, hold=0.6)

        def up(p: Planner) -> Target:
            return Target(p.pos + np.array([0, 0, p.rng.uniform(0.08, 0.15)]), p.yaw, 0.0, hold=0.1)
        self.steps += ([] if at_current else [over]) + [lower, release, up]

    def _plan_pick_place(self, k: int) -> None:
        obj = self.scene.params.objects[k]
        dest = self.free_spot(k, min_dist=0.14)
        where = _describe_place(dest, self.obj_pos(k)[:2], self.scene, k, self)
        self.phrases.append(f"put the {obj.phrase} {where}")
        self.tasks.append({"task": "pick_place", "object": k, "dest": [float(v) for v in dest]})
        self._grasp_steps(k)
        self._place_steps(k, dest=dest)

    def _plan_push(self, k: int) -> None:
        obj = self.scene.params.objects[k]
        q = self.obj_pos(k)
        dirs = {"forward": np.array([1.0, 0]), "backward": np.array([-1.0, 0]),
                "to the left": np.array([0, 1.0]), "to the right": np.array([0, -1.0])}
        dist = float(self.rng.uniform(0.1, 0.18))
        ok = [name for name, v in dirs.items()
              if 0.34 < q[0] + v[0] * dist < 0.7 and abs(q[1] + v[1] * dist) < 0.33]
        name = str(self.rng.choice(ok)) if ok else "forward"
        direction = dirs[name]
        self.phrases.append(f"push the {obj.phrase} {name}")
        self.tasks.append({"task": "push", "object": k, "direction": name, "distance": dist})
        yaw = float(np.arctan2(direction[1], direction[0]))  # fingers close across the push
        push_yaw = _wrap_half_pi(yaw + np.pi / 2)
        low = float(self.rng.uniform(0.012, 0.02))

        def behind(p: Planner) -> Target:
            c = p.obj_pos(k)
            xy = c[:2] - direction * (obj.radius_xy + 0.045)
            return Target(np.array([xy[0], xy[1], p.table_z + 0.12]), push_yaw, 1.0, hold=0.1)

        def down(p: Planner) -> Target:
            return Target(np.array([p.pos[0], p.pos[1], p.table_z + low + 0.01]), p.yaw, 1.0, hold=0.2,
                          speed_scale=0.6)

        def through(p: Planner) -> Target:
            return Target(p.pos + np.r_[direction * (dist + 0.03), 0.0], p.yaw, 1.0, hold=0.3,
                          speed_scale=0.5)

        def up(p: Planner) -> Target:
            return Target(p.pos + np.array([0, 0, 0.12]) - np.r_[direction * 0.03, 0.0], p.yaw, 1.0,
                          hold=0.1)
        self.steps += [behind, down, through, up]

    # -- sampling -----------------------------------------------------------------------------
    def _next_segment(self) -> None:
        if not self.steps:
            self._plan_more()
        step = self.steps.pop(0)
        tgt = step(self)
        dist = float(np.linalg.norm(tgt.pos - self.pos))
        dyaw = abs(tgt.yaw - self.yaw)
        dur = max(0.6, dist / (self.speed * tgt.speed_scale), dyaw / 1.0)
        self.segment = Segment(self.pos.copy(), self.yaw, tgt.pos.copy(), tgt.yaw, tgt.grip, dur,
                               tgt.hold)
        self.pos, self.yaw, self.grip = tgt.pos.copy(), tgt.yaw, tgt.grip
        self.seg_t = 0.0

    def command(self, dt: float) -> tuple[np.ndarray, float, float]:
        """The commanded (tcp position, yaw, gripper) for the next frame, advancing by ``dt``."""
        if self.segment is None or self.seg_t >= self.segment.total:
            self._next_segment()
        seg = self.segment
        pos, yaw = seg.at(self.seg_t)
        self.seg_t += dt
        return pos, yaw, seg.grip

    def instruction(self) -> str:
        text = ", then ".join(self.phrases[:2]) if self.phrases else "move the arm around"
        return text[0].upper() + text[1:]


def _describe_place(dest: np.ndarray, src: np.ndarray, scene: Scene, k: int, planner: Planner) -> str:
    """Where a pick-and-place puts the object, in words (relative to another object if one is near)."""
    best, best_d = None, 1e9
    for j in range(len(scene.params.objects)):
        if j == k:
            continue
        d = float(np.linalg.norm(planner.obj_pos(j)[:2] - dest))
        if d < best_d:
            best, best_d = j, d
    if best is not None and best_d < 0.16:
        rel = dest - planner.obj_pos(best)[:2]
        if abs(rel[1]) > abs(rel[0]):
            side = "to the left of" if rel[1] > 0 else "to the right of"
        else:
            side = "in front of" if rel[0] > 0 else "behind"
        return f"{side} the {scene.params.objects[best].phrase}"
    delta = dest - src
    if abs(delta[1]) > abs(delta[0]):
        return "on the left side of the table" if delta[1] > 0 else "on the right side of the table"
    return "further away" if delta[0] > 0 else "closer to the robot"
