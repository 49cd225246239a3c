"""The product reference's Mimecast Source JSON example, verbatim from spec/sumo-mimecast-source.txt."""

PRODUCT_EXAMPLE = """{
"api.version": "v1",
"source": {
"config": {
"name": "Mimecast",
"description": "Mimecast",
"category": "Mimecast",
"clientID": "XXXgXXXXXXXxfkNsaXXXXo8VqkXXXixRf5VlnwcXXXXXchX",
"clientSecret": "XXXgXXXXXXXxfkNsaXXXXo8VqkXXXixRf5VlnwcXXXXXchX",
"dataCollection": [
"siem",
"dlp",
"auditEvent",
"holdMessageList"
]
},
"schemaRef": {
"type": "Mimecast"
},
"sourceType": "Universal"
}
}"""
