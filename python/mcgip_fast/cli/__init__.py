"""The `mcgip` command line: one module per subcommand."""
