"""The pwbench command line: one small module per subcommand."""
