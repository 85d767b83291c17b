"""One module per area of the site, each exposing a Flask blueprint as `bp`."""
