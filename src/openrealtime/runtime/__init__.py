"""The runtime: owns sessions and their engines, runs effects as tasks, feeds results back."""
