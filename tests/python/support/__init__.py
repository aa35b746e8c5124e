"""Test support: local Convex runtime, QuickBooks and QBWC simulators."""
