"""The admin console: login and roles (auth), its pages (views), and what the pages show
(issues_state). ``views.init_admin`` wires it into the app."""
