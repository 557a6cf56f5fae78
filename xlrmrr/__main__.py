from xlrmrr.cli import console

console()
