"""Templates and assets of the static leaderboard site (packaged, so an installed pwbench can
build the site: ``pwbench leaderboard build --out DIR``; the builder is pwbench.leaderboard.site)."""

from pathlib import Path

TEMPLATES = Path(__file__).parent / "templates"
ASSETS = Path(__file__).parent / "assets"
