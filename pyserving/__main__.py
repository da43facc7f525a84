from pyserving.cli.main import main

main()
