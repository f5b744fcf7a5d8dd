"""Tests of the code's shape: import direction, one owner per rule."""
