from __future__ import annotations

from ossdoc.cli import main

raise SystemExit(main())
