from synthsight.cli import main

main()
