from flowvault.cli import main

main()
