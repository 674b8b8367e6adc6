from performia.cli import main

raise SystemExit(main())
