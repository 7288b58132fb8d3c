"""The lifecycle controller: keeps managed images at zero known fixable vulnerabilities.

`fleet` reads the fleet file, `state` is the job and event store, `detect` and
`relock` decide what to rebuild, `controller` runs passes, `status` reports.
"""
