"""The command line: argument parsing and calls into the library, nothing more."""
