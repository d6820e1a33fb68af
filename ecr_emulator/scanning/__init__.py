"""Image scanning, an extension around the core: what an image's layers install
(``inventory``), the advisories that name those packages (``advisories``, OSV JSON), and
how each ecosystem orders versions (``versions``).  ``core.scanning`` decides when a scan
runs and keeps its findings; this package only reads bytes and advisories."""
