"""The ``lola-arena`` command line: the top layer, which imports the packages and is imported by
none of them (see :mod:`cli.main`)."""
