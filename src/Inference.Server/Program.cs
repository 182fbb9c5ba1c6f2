using Inference.Server.Hosting;

var builder = WebApplication.CreateBuilder(args);
builder.AddInferencePlatform();

var app = builder.Build();
await app.PrepareInferencePlatformAsync();
app.MapInferencePlatform();
await app.RunAsync();
