"""The board: web pages of the job server at ``/board`` (jobs, the DAG, components, logs).

:func:`~fedloom.server.board.routes.make_board_router` gives the router ``create_app`` mounts;
the JSON its pages draw from is built in :mod:`fedloom.server.board.views`.
"""

from fedloom.server.board.routes import make_board_router

__all__ = ["make_board_router"]
