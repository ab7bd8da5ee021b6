"""The public web archive: issue pages, the archive list, the Atom feed and issue assets."""
