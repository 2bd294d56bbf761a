"""One attempt against one deployment: translate, authorize, send, translate back."""
