"""The leaderboard: entries (``submission``), their verification (``check``), the published set
(``entries``), its numbers (``tables``), figures and clip previews (``figures``, ``media``) and the
static site (``site``; templates and assets live in the top-level ``leaderboard`` package)."""
