"""The storage driver: pools (dir, fs, logical) and their volumes on the host."""
