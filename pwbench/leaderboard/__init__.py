"""The leaderboard: entries (``submission``), their verification (``check``) and, next, the site."""
