from mastertape.cli import main

main()
