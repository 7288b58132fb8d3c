"""Source-level patching: find a CVE fix, rebuild the Debian package with it, publish it."""
