"""The web console's files (``static/``) and how they are served: one content hash names them
all (``proxy.console.assets``)."""
