from slidebatch.cli import main

main()
