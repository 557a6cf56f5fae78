"""The xl config language: how libxlutil reads a .cfg file and how xl interprets it."""
