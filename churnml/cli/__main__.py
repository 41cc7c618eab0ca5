from churnml.cli import main  # python -m churnml.cli

main()
