# chat/urls.py
from django.urls import path, register_converter

from . import views

# Beyond the tutorial: only room names the channel layer can take (validation.py).
from .validation import RoomNameConverter

register_converter(RoomNameConverter, "room_name")

urlpatterns = [
    path("", views.index, name="index"),
    # Beyond the tutorial: <room_name:...> instead of <str:...>.
    path("<room_name:room_name>/", views.room, name="room"),
]
