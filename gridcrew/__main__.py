from gridcrew.cli import main

main()
