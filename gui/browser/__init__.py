"""The image browser: a virtualised thumbnail grid, its filters and the detail pane."""
