from llmos_tui.cli import main

raise SystemExit(main())
