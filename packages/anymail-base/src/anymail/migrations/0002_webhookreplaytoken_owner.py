from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("anymail", "0001_initial")]

    operations = [
        migrations.AddField(
            model_name="webhookreplaytoken",
            name="owner",
            field=models.CharField(default="", editable=False, max_length=32),
        ),
    ]
