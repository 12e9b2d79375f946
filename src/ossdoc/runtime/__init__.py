"""The runtime ``ossdoc serve`` supervises: HTTP worker processes and the model service."""
