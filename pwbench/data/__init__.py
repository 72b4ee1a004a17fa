"""Datasets: the LeRobot reader, tasks, eval-set preparation and the frame cache, the train-split reader."""
