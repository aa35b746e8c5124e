"""QuickBooks Web Connector bridge for the Convex inventory app."""

__version__ = "0.1.0"
