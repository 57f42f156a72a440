"""tmpfs and huge tmpfs: inodes and file operations, getpage, teams, the hugehole shrinker,
recovery and the sysctls."""
