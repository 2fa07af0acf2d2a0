"""``import FILE``: reading facts from files (``reading``) and recording them (``loading``)."""
