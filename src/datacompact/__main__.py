from datacompact.cli import main

main()
