"""Run folders: per-clip records, run manifest, resume, merge, summaries."""
