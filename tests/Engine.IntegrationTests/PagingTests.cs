using Engine.Api.V1;
using Engine.Testing;
using Grpc.Core;

namespace Engine.IntegrationTests;

/// <summary>The list RPCs page the same way: page_size up to 1,000, next_page_token until the last page.</summary>
[Trait("Category", "Integration")]
public sealed class PagingTests
{
    [Fact]
    public async Task Histories_and_webhooks_read_page_by_page_give_the_whole_list_once()
    {
        await using var server = await new EngineServer().StartAsync();
        var data = await Population.SegmentedAsync(server, customers: 300, seed: 12);
        await server.Models.RetrainAsync(new RetrainRequest { K = 5 });
        // The first model stays readable by its version (old segment ids resolve), the current one by default.
        var (first3, current) = (await server.Models.GetModelAsync(new GetModelRequest { Version = 1 }), await server.Models.GetModelAsync(new GetModelRequest()));
        Assert.Equal((1L, 3, 2L, 5), (first3.Version, first3.K, current.Version, current.K));
        var none = await Assert.ThrowsAsync<RpcException>(() => server.Models.GetModelAsync(new GetModelRequest { Version = 9 }).ResponseAsync);
        Assert.Equal(StatusCode.NotFound, none.StatusCode);

        // The customer with the longest history, read one transition a page.
        var histories = await Population.HistoriesAsync(server, data.CustomerIds);
        var (id, full) = histories.MaxBy(h => h.Value.Count);
        Assert.True(full.Count >= 2);
        var paged = new List<Transition>();
        var request = new GetHistoryRequest { CustomerId = id, PageSize = 1 };
        while (true)
        {
            var page = await server.Segments.GetHistoryAsync(request);
            Assert.Single(page.Transitions);
            paged.AddRange(page.Transitions);
            if (page.NextPageToken.Length == 0)
            {
                break;
            }
            request = new GetHistoryRequest { CustomerId = id, PageSize = 1, PageToken = page.NextPageToken };
        }
        Assert.Equal(full, paged);

        // Five webhooks, two a page; one deleted between pages does not shift the rest.
        var alerts = new AlertService.AlertServiceClient(server.Channel);
        var ids = new List<string>();
        for (var i = 0; i < 5; i++)
        {
            ids.Add((await alerts.CreateWebhookAsync(new CreateWebhookRequest { Url = $"http://127.0.0.1:{FreePorts.Next()}/", Secret = "s" })).Id);
        }
        ids.Sort(StringComparer.Ordinal);
        var first = await alerts.ListWebhooksAsync(new ListWebhooksRequest { PageSize = 2 });
        Assert.Equal(ids.Take(2), first.Webhooks.Select(w => w.Id));
        await alerts.DeleteWebhookAsync(new DeleteWebhookRequest { Id = ids[2] });
        var second = await alerts.ListWebhooksAsync(new ListWebhooksRequest { PageSize = 2, PageToken = first.NextPageToken });
        Assert.Equal([ids[3], ids[4]], second.Webhooks.Select(w => w.Id));
        Assert.Equal("", second.NextPageToken);
        var letters = await alerts.ListDeadLettersAsync(new ListDeadLettersRequest { PageSize = 2 });
        Assert.Equal(("", 0), (letters.NextPageToken, letters.DeadLetters.Count));

        var bad = await Assert.ThrowsAsync<RpcException>(() => server.Segments.GetHistoryAsync(new GetHistoryRequest { CustomerId = id, PageSize = 1, PageToken = "bm90LWEtbnVtYmVy" }).ResponseAsync);
        Assert.Equal((StatusCode.InvalidArgument, true), (bad.StatusCode, bad.Status.Detail.StartsWith("page_token:")));
        var big = await Assert.ThrowsAsync<RpcException>(() => alerts.ListWebhooksAsync(new ListWebhooksRequest { PageSize = 1_001 }).ResponseAsync);
        Assert.Equal(StatusCode.InvalidArgument, big.StatusCode);
    }
}
