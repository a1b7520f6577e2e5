import json
import logging

from asgiref.sync import async_to_sync
from channels.generic.websocket import WebsocketConsumer

from .validation import InvalidMessage, parse_message

logger = logging.getLogger(__name__)


class ChatConsumer(WebsocketConsumer):
    def connect(self):
        self.room_name = self.scope["url_route"]["kwargs"]["room_name"]
        self.room_group_name = f"chat_{self.room_name}"

        # Join room group
        async_to_sync(self.channel_layer.group_add)(
            self.room_group_name, self.channel_name
        )

        self.accept()

    def disconnect(self, close_code):
        # Leave room group
        async_to_sync(self.channel_layer.group_discard)(
            self.room_group_name, self.channel_name
        )

    # Receive message from WebSocket
    def receive(self, text_data=None, bytes_data=None):
        # Beyond the tutorial: a frame that is not {"message": "<text>"} gets an
        # error back to its sender alone, instead of a traceback in the server.
        try:
            message = parse_message(text_data, bytes_data)
        except InvalidMessage as error:
            logger.warning("Refused a frame in room %s: %s", self.room_name, error)
            self.send(text_data=json.dumps({"error": str(error)}))
            return
        # Beyond the tutorial: a blank message is not worth a broadcast.
        if not message.strip():
            return

        # Send message to room group
        async_to_sync(self.channel_layer.group_send)(
            self.room_group_name, {"type": "chat.message", "message": message}
        )

    # Receive message from room group
    def chat_message(self, event):
        message = event["message"]

        # Send message to WebSocket
        self.send(text_data=json.dumps({"message": message}))
