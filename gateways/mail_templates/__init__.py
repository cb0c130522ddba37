"""Jinja2 mail templates (package data).

This file makes the folder a package so that setuptools ships its *.j2 files (the
project's package-data pattern applies per package). No code lives here.
"""
