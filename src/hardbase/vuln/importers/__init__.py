"""Vulnerability feed importers, one module per feed behind `interface.Importer`."""
