"""Listing photo taggers (front exterior, style, storeys): generated data, backbone, heads."""
