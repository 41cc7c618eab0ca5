from churnml.cli import main

main()
