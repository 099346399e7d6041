from django.apps import AppConfig


class EbpfConfig(AppConfig):
    name = "ebpf"
    verbose_name = "Network enforcement"
