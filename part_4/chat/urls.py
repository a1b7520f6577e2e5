from django.urls import path, register_converter

from . import views
from .validation import RoomNameConverter

# Beyond the tutorial: only room names the channel layer can take (validation.py).
register_converter(RoomNameConverter, "room_name")

urlpatterns = [
    path("", views.index, name="index"),
    path("<room_name:room_name>/", views.room, name="room"),
]
